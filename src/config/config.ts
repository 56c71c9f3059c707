// A node's configuration, as the rest of the node sees it: the checked config and
// how to load it. The catalog of keys is in catalog.ts, the loader (argv, file,
// YAML, environment) in loader.ts, the checks of values and of how keys relate in
// checks.ts.

export { configDefaults, configKeys, electionTimeoutMsMax, electionTimeoutMsMin, type ConfigKey, type NodeConfig } from './catalog.js';
export type { LogLevel, PeerConfig } from './checks.js';
export { formatHostPort, type HostPort } from './host-port.js';
export { configFileBytesMax, loadConfig, parseConfig, type ConfigResult } from './loader.js';
