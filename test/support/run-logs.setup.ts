/** Setup file of every test file: child processes' output goes to the run's log directory (see `run-logs.ts`). */
import { teeChildOutput } from './run-logs.js';

teeChildOutput();
