import 'dotenv/config';
import { runBot } from '../src/main.js';

const exit = await runBot(process.env);
if (exit.message) console.error(exit.message);
process.exit(exit.code);
