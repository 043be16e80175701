// Imported first by an entry point (scripts/start.ts): relaunches the process with the runtime
// flags before any other module is evaluated (ES modules evaluate their imports in order).
import { relaunchWithRuntimeFlags } from './runtime-flags.js';

relaunchWithRuntimeFlags();
