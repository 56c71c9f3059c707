import { test } from 'node:test';
import { checkSafetyProperty } from './safety-property.js';

test('all Raft invariants hold for 5-node clusters under random fault schedules (150 runs)', () => {
  checkSafetyProperty(5, 150, 5005);
});
