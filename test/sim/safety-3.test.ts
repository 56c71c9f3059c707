import { test } from 'node:test';
import { checkSafetyProperty } from './safety-property.js';

test('all Raft invariants hold for 3-node clusters under random fault schedules (200 runs)', () => {
  checkSafetyProperty(3, 200, 3003);
});
