import { jest } from '@jest/globals';

// Real API server round trips, controller convergence and the garbage collector take seconds.
jest.setTimeout(120_000);
