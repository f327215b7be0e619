import type { Command } from '../context.js';
import { ask } from './ask.js';
import { corpus } from './corpus.js';
import { help } from './help.js';

/** Every slash command, registered by `npm run register` and dispatched by name. */
export const commands: readonly Command[] = [ask, help, corpus];
