import { expect, test } from 'vitest';
import { admitJob, BUSY_GENERATE, BUSY_SCIENCE } from './session-admission';

test('a free session starts anything', () => {
  expect(admitJob(null, 'generate')).toEqual({ action: 'start' });
  expect(admitJob(null, 'science')).toEqual({ action: 'start' });
});

test('a newer generation supersedes a running one; a science job waits for it', () => {
  expect(admitJob('generate', 'generate')).toEqual({ action: 'supersede' });
  expect(admitJob('generate', 'science')).toEqual({ action: 'wait' });
});

test('a running science job refuses both, with a message that says what to do', () => {
  expect(admitJob('science', 'generate')).toEqual({ action: 'refuse', message: BUSY_GENERATE });
  expect(admitJob('science', 'science')).toEqual({ action: 'refuse', message: BUSY_SCIENCE });
  expect(BUSY_GENERATE).toMatch(/cancel it or wait/);
});
