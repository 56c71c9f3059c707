// ESLint flat config for kvstore.
//
// Besides the usual typescript-eslint checks, this file enforces the import
// direction of the Raft core (below) and the determinism rule from
// CONVENTIONS.md §4: the Raft core (machines/, src/raft/), the key-value state
// machine (src/kv/), the node that hosts them (src/node/, but for its real
// runtime) and the simulator (sim/) never read the wall clock, never use
// ambient randomness, never schedule real timers and never do I/O. Time,
// randomness and I/O are injected, so one seed reproduces a whole run.
//
// Flat config replaces (does not merge) the options of a rule configured in
// two matching objects, so each restricted-* rule below is built once per
// folder group from shared lists.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";
import globals from "globals";

const deterministicWhy =
  "the Raft core and simulator must be deterministic: time, randomness and I/O are injected";

const layeringWhy =
  "the Raft core must not depend on the simulator or the tests: they depend on it, never the reverse";

const ioModules = [
  "fs",
  "fs/promises",
  "net",
  "http",
  "https",
  "http2",
  "dgram",
  "child_process",
  "worker_threads",
  "os",
];

const ioModuleNames = [
  ...ioModules,
  ...ioModules.map((name) => `node:${name}`),
  "ws",
  "classic-level",
];

const restrictedImportPaths = ioModuleNames.map((name) => ({
  name,
  message: `Do not import "${name}": ${deterministicWhy}.`,
}));

// Subpath imports of the same packages (e.g. "ws/lib/websocket.js").
const ioSubpathPattern = {
  group: ["ws/*", "classic-level/*"],
  message: `Do not import I/O packages: ${deterministicWhy}.`,
};

const layeringPattern = {
  group: ["**/sim/**", "**/test/**"],
  message: `Do not import from sim/ or test/: ${layeringWhy}.`,
};

// The import direction inside the Raft core (CONVENTIONS §1): the role machine
// imports only the core's data structures (src/raft/*.ts); the host side of the
// core (src/raft/host/: RaftNode, ReadyExecutor) imports the machine; nothing in
// the core imports a host, and no host imports the key-value node built on it.
const directionWhy = "machines import only core data structures; hosts import machines; nothing in the core imports a host";

const machineImportsPattern = {
  regex: "^(?!xstate$|\\.\\./src/raft/[a-z-]+\\.js$)",
  message: `The role machine imports only xstate and src/raft/*.js: ${directionWhy}.`,
};

const coreImportsPattern = {
  group: ["**/host/*", "**/machines/**", "**/node/**"],
  message: `The core's data structures import neither a host nor the machine: ${directionWhy}.`,
};

const hostImportsPattern = {
  group: ["**/node/**"],
  message: `The core's host does not import the node built on it: ${directionWhy}.`,
};

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const dynamicIoImportSelector = `ImportExpression[source.value=/^(${ioModuleNames
  .map(escapeRegExp)
  .join("|")})$/]`;

function deterministicRules({ forbidSimAndTestImports, importPatterns = [] }) {
  return {
    "no-restricted-properties": [
      "error",
      {
        object: "Math",
        property: "random",
        message: `Use the injected seeded PRNG, not Math.random: ${deterministicWhy}.`,
      },
      {
        object: "Date",
        property: "now",
        message: `Use the injected clock, not Date.now: ${deterministicWhy}.`,
      },
      {
        object: "performance",
        property: "now",
        message: `Use the injected clock, not performance.now: ${deterministicWhy}.`,
      },
    ],
    "no-restricted-globals": [
      "error",
      ...["setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval"].map(
        (name) => ({
          name,
          message: `Schedule through the injected clock, not ${name}: ${deterministicWhy}.`,
        }),
      ),
      {
        name: "performance",
        message: `Use the injected clock, not performance: ${deterministicWhy}.`,
      },
    ],
    "no-restricted-syntax": [
      "error",
      {
        // new Date(ms) is deterministic; only the argument-less form reads the clock.
        selector: "NewExpression[callee.name='Date'][arguments.length=0]",
        message: `Use the injected clock, not new Date(): ${deterministicWhy}.`,
      },
      {
        // Date(...) ignores its arguments and always returns the current time.
        selector: "CallExpression[callee.name='Date']",
        message: `Use the injected clock, not Date(): ${deterministicWhy}.`,
      },
      {
        selector: dynamicIoImportSelector,
        message: `Do not import I/O modules dynamically: ${deterministicWhy}.`,
      },
    ],
    "no-restricted-imports": [
      "error",
      {
        paths: restrictedImportPaths,
        patterns: [
          ioSubpathPattern,
          ...(forbidSimAndTestImports ? [layeringPattern] : []),
          ...importPatterns,
        ],
      },
    ],
  };
}

export default defineConfig([
  {
    ignores: ["dist/", "node_modules/", "data/", "coverage/"],
  },
  {
    files: ["**/*.js"],
    extends: [js.configs.recommended],
  },
  {
    files: ["**/*.ts"],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/no-explicit-any": "error",
    },
  },
  {
    // The cluster page's script runs in the browser.
    files: ["ui/**/*.js"],
    languageOptions: { globals: globals.browser, sourceType: "module" },
  },
  {
    files: ["**/*.js", "**/*.ts"],
    rules: {
      eqeqeq: "error",
      "no-console": "off",
    },
  },
  {
    // The Raft core and the state machine it applies to: deterministic, and
    // independent of sim/ and test/.
    files: ["src/kv/**/*.ts"],
    rules: deterministicRules({ forbidSimAndTestImports: true }),
  },
  {
    files: ["machines/**/*.ts"],
    rules: deterministicRules({ forbidSimAndTestImports: true, importPatterns: [machineImportsPattern] }),
  },
  {
    files: ["src/raft/**/*.ts"],
    ignores: ["src/raft/host/**"],
    rules: deterministicRules({ forbidSimAndTestImports: true, importPatterns: [coreImportsPattern] }),
  },
  {
    files: ["src/raft/host/**/*.ts"],
    rules: deterministicRules({ forbidSimAndTestImports: true, importPatterns: [hostImportsPattern] }),
  },
  {
    // The key-value node, which the simulator runs as it is: its time,
    // randomness and scheduling come from the injected runtime. Only what a
    // real process adds around it touches Node's: the real runtime, and the
    // data directory's lock.
    files: ["src/node/**/*.ts"],
    ignores: ["src/node/real-runtime.ts", "src/node/data-dir.ts"],
    rules: deterministicRules({ forbidSimAndTestImports: true }),
  },
  {
    // The simulator: deterministic, except the entry points that measure
    // wall-clock speed or read and serve files (the replay viewer and the
    // replay command).
    files: ["sim/**/*.ts"],
    ignores: ["sim/cli.ts", "sim/soak.ts", "sim/view.ts", "sim/replay-cli.ts"],
    rules: deterministicRules({ forbidSimAndTestImports: false }),
  },
]);
