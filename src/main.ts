#!/usr/bin/env node
// The operator's executable: applies the runtime flags (runtime-flags.ts), then runs the operator
// command (cli/operator.ts). Nothing else is imported before the relaunch, so it costs one bare start.
import { relaunchWithRuntimeFlags } from './runtime-flags.js';

relaunchWithRuntimeFlags();
await import('./cli/operator.js');
