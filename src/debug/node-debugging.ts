import type { Registry } from 'prom-client';
import type { NodeConfig } from '../config/config.js';
import type { EventStreams } from '../http/events-route.js';
import type { Logger } from '../log.js';
import { registerDebugMetrics } from '../metrics/debug-metrics.js';
import type { KvNode, KvNodeHooks } from '../node/kv-node.js';
import type { RaftConfig } from '../raft/config.js';
import type { NodeId } from '../raft/types.js';
import { FlightRecorder } from './flight-recorder.js';
import { CoreInspector } from './inspector.js';
import { NodeEvents } from './node-events.js';
import type { RecordingHeader } from './recording-codec.js';

/**
 * A real node's debugging features, set up in two steps around the node: what
 * KvNode takes when it is built (the flight recorder as its core's tap, the event
 * stream's hooks), then what needs the running node (the event source, the
 * inspector, the metrics).
 */
export class NodeDebugging {
  readonly recorder: FlightRecorder | null;
  private node: KvNode | null = null;
  private connectedPeers: () => readonly NodeId[] = () => [];
  readonly events: NodeEvents;
  private inspector: CoreInspector | null = null;

  constructor(
    private readonly config: NodeConfig,
    private readonly raft: RaftConfig,
    private readonly log: Logger,
  ) {
    const d = config.debug;
    this.recorder = d.recorder ? new FlightRecorder({ inputsMax: d.recorderInputsMax, bytesMax: d.recorderBytesMax }) : null;
    this.events = new NodeEvents({
      status: () => this.node!.status(),
      peerProgress: () => this.node!.raftView().peerProgress(),
      connectedPeers: () => this.connectedPeers(),
      nowMs: () => Date.now(),
    });
  }

  /** Hooks for KvNode, composed with the metrics' own. */
  hooks(metrics: KvNodeHooks): KvNodeHooks {
    return {
      ...metrics,
      onTransition: (t, s) => {
        metrics.onTransition?.(t, s);
        this.events.transition(t);
      },
      onRequest: () => {
        metrics.onRequest?.();
        this.events.request();
      },
    };
  }

  /** The node is built: the event source can read it; the inspector attaches when debug.inspect is on. */
  started(node: KvNode, connectedPeers: () => readonly NodeId[]): void {
    this.node = node;
    this.connectedPeers = connectedPeers;
    const d = this.config.debug;
    if (d.inspect) {
      this.inspector = new CoreInspector(node.id, d.inspectUrl, d.inspectEventsPerSecond, this.log);
      this.inspector.start((observer) => node.inspectCore(observer));
    }
  }

  registerMetrics(registry: Registry, streams: EventStreams): void {
    registerDebugMetrics(registry, {
      recorder: this.recorder,
      eventStreams: () => streams.streams(),
      eventSubscribersCut: () => streams.cut,
      inspector: this.inspector,
    });
  }

  /** What a flight recording download starts with: the node, its cluster and Raft settings, and a clock anchor. */
  recordingHeader(): RecordingHeader {
    return {
      node: this.config.node.id,
      voters: this.config.raft.peers.map((p) => p.id),
      raft: this.raft,
      clock: { monotonicMs: performance.now(), wallMs: Date.now() },
    };
  }

  stop(): void {
    this.inspector?.stop();
  }
}
