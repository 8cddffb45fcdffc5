import { expect, test } from 'vitest';
import { toInt64Ids } from './runner';

test('token ids become int64 rows of the model length, from either layout', () => {
  const flat = toInt64Ids(new Int32Array([1, 5, 2, 0, 1, 6, 2, 0]), 4);
  expect(flat.batch).toBe(2);
  expect(Array.from(flat.data)).toEqual([1n, 5n, 2n, 0n, 1n, 6n, 2n, 0n]);
  const rows = toInt64Ids([[1, 5, 2, 0]], 4);
  expect(rows.batch).toBe(1);
});

test('ids that do not fill whole rows are refused', () => {
  expect(() => toInt64Ids(new Int32Array([1, 2, 3]), 4)).toThrow(/rows of 4/);
  expect(() => toInt64Ids([], 4)).toThrow();
});
