import { Cluster, type ClusterNode, type ClusterOptions } from 'ioredis';

/**
 * ioredis's Cluster with a `connect()` that always settles: once the client is ready, or
 * once it has ended. ioredis (5.11, and 6.1 still) leaves the promise pending for good when
 * an attempt reads the slots but fails its ready check, as nodes just back do while they
 * answer `cluster_state:fail`; the client then reconnects and becomes ready by itself, but
 * nobody hears of it. BullMQ awaits that promise when it reconnects a worker's blocking
 * connection, so after a whole-cluster restart a worker could wait for jobs forever.
 * `duplicate()` keeps the class, because BullMQ's blocking connection is a duplicate.
 */
export class SettlingCluster extends Cluster {
  readonly #startupNodes: ClusterNode[];

  constructor(startupNodes: ClusterNode[], options: ClusterOptions) {
    super(startupNodes, options);
    this.#startupNodes = startupNodes;
  }

  override connect(): Promise<void> {
    return Promise.race([super.connect(), nextReadyOrEnd(this)]);
  }

  override duplicate(
    overrideStartupNodes: ClusterNode[] = [],
    overrideOptions: ClusterOptions = {},
  ): Cluster {
    const nodes = overrideStartupNodes.length > 0 ? overrideStartupNodes : this.#startupNodes;
    return new SettlingCluster(nodes, { ...this.options, ...overrideOptions });
  }
}

/**
 * One promise per client for its next `ready` (resolves) or `end` (rejects), shared by
 * every connect() made meanwhile: a client reconnecting for an hour makes one attempt
 * every two seconds, and each attempt must not add listeners of its own.
 */
const nextOutcomes = new WeakMap<Cluster, Promise<void>>();

function nextReadyOrEnd(cluster: Cluster): Promise<void> {
  const pending = nextOutcomes.get(cluster);
  if (pending) return pending;
  const outcome = new Promise<void>((resolve, reject) => {
    const settle = (finish: () => void) => {
      cluster.off('ready', onReady);
      cluster.off('end', onEnd);
      nextOutcomes.delete(cluster);
      finish();
    };
    const onReady = () => settle(resolve);
    const onEnd = () => settle(() => reject(new Error('Connection is closed.')));
    cluster.once('ready', onReady);
    cluster.once('end', onEnd);
  });
  outcome.catch(() => {}); // an end nobody awaits is no unhandled rejection
  nextOutcomes.set(cluster, outcome);
  return outcome;
}
