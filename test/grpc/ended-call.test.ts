import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { CALLER_DEADLINE_LEAD_MS_MAX, endedCallStatus } from '../../src/grpc/unary.js';

const ARRIVED = 1_000_000;

test('a call without a deadline that ends unanswered was cancelled', () => {
  assert.equal(endedCallStatus(null, ARRIVED, ARRIVED + 60_000), grpc.status.CANCELLED);
});

test('a cancel that reaches this node before its copy of the deadline is the caller\'s deadline when it comes in the last half of the call\'s time', () => {
  // An 800 ms call: this node's deadline is 800 ms after arrival; the caller's came earlier by the time the call took to arrive.
  const deadline = ARRIVED + 800;
  assert.equal(endedCallStatus(deadline, ARRIVED, deadline - 30), grpc.status.DEADLINE_EXCEEDED);
  assert.equal(endedCallStatus(deadline, ARRIVED, deadline - 400), grpc.status.DEADLINE_EXCEEDED);
  assert.equal(endedCallStatus(deadline, ARRIVED, deadline), grpc.status.DEADLINE_EXCEEDED);
  assert.equal(endedCallStatus(deadline, ARRIVED, deadline + 5), grpc.status.DEADLINE_EXCEEDED);
  assert.equal(endedCallStatus(deadline, ARRIVED, deadline - 401), grpc.status.CANCELLED);
  assert.equal(endedCallStatus(deadline, ARRIVED, ARRIVED + 10), grpc.status.CANCELLED);
});

test('a long call\'s cancel is its deadline only within CALLER_DEADLINE_LEAD_MS_MAX of it', () => {
  const deadline = ARRIVED + 60_000;
  assert.equal(endedCallStatus(deadline, ARRIVED, deadline - CALLER_DEADLINE_LEAD_MS_MAX), grpc.status.DEADLINE_EXCEEDED);
  assert.equal(endedCallStatus(deadline, ARRIVED, deadline - CALLER_DEADLINE_LEAD_MS_MAX - 1), grpc.status.CANCELLED);
  assert.equal(endedCallStatus(deadline, ARRIVED, ARRIVED + 30_000), grpc.status.CANCELLED);
});

test('a call that arrived past its deadline and ends unanswered ended at its deadline', () => {
  assert.equal(endedCallStatus(ARRIVED - 10, ARRIVED, ARRIVED), grpc.status.DEADLINE_EXCEEDED);
});
