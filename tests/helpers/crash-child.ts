import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createApp } from '../../src/main.js';

/**
 * Child of the crash-consistency test: opens the app on CORPUS_DIR / DATA_DIR (from the environment), refreshes the
 * corpus as `/corpus refresh` does, closes (which writes a debounced index), and says where it is on stdout so the
 * parent can time its SIGKILL from the start of the refresh.
 */
const config = loadConfig(process.env);
const app = await createApp(config, createLogger({ level: 'silent' }));
process.stdout.write('refreshing\n');
const result = await app.service.refresh();
process.stdout.write(`refreshed ${result.kind}\n`);
await app.close();
process.stdout.write('closed\n');
