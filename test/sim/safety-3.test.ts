import { test } from 'node:test';
import { checkSafetyProperty } from './safety-property.js';

test('all Raft invariants hold for 3-node clusters under random fault schedules (150 runs)', () => {
  checkSafetyProperty(3, 150, 3003);
});
