#!/usr/bin/env node
// Benchmark peer for `mew bench gateway --peer-cmd`: a Node.js stand-in of the upstream
// TypeScript MEW gateway's WebSocket hot path, written for the benchmark (not upstream's code).
// Per inbound envelope it does the work /work/shared/spec/gateway.md prescribes: JSON.parse,
// validation (§2.3), capability check against the sender's static list (§4.4/§4.5), fill-in of
// protocol/id/ts/from (§2.2), one `received` + one `delivered`-per-recipient record in
// envelope-history.jsonl and one `capability_check` record in capability-decisions.jsonl (§6),
// and relay to every participant of the space including the sender (§3.2). Joins answer
// system/welcome and announce presence to the others (§1.3-§1.5). Streams, grants, invites and
// the HTTP API are out of scope: the benchmark does not exercise them.
//
// Usage: node gateway.js --port N [--log-dir DIR] [--capabilities JSON]
//   --log-dir       where the two JSONL files go (default: a fresh temporary directory,
//                   removed on exit)
//   --capabilities  static capability list of every joining participant
//                   (default [{"kind":"chat"}], the spec's default without config, §4.2)
'use strict';

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { WebSocketServer, WebSocket } = require('ws');

function parseArgs(argv) {
  const opts = { port: 8080, logDir: null, capabilities: [{ kind: 'chat' }] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--port') {
      opts.port = Number.parseInt(value, 10);
      i += 1;
    } else if (arg === '--log-dir') {
      opts.logDir = value;
      i += 1;
    } else if (arg === '--capabilities') {
      opts.capabilities = JSON.parse(value);
      i += 1;
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error('--port needs a port number');
  }
  if (!Array.isArray(opts.capabilities)) {
    throw new Error('--capabilities must be a JSON array');
  }
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`gateway.js: ${err.message}`);
  process.exit(2);
}

const ownLogDir = opts.logDir === null;
const logDir = ownLogDir ? fs.mkdtempSync(path.join(os.tmpdir(), 'mew-peer-')) : opts.logDir;
fs.mkdirSync(logDir, { recursive: true });
// Append streams, as a Node server would keep them: writes are queued, never awaited.
const historyLog = fs.createWriteStream(path.join(logDir, 'envelope-history.jsonl'), { flags: 'a' });
const decisionLog = fs.createWriteStream(path.join(logDir, 'capability-decisions.jsonl'), {
  flags: 'a',
});

// §4.3 baseline: drop kind-less entries, de-duplicate, append the mcp-response capability.
function sortedJson(cap) {
  const sorted = {};
  for (const key of Object.keys(cap).sort()) sorted[key] = cap[key];
  return JSON.stringify(sorted);
}
function withBaseline(caps) {
  const seen = new Map();
  for (const cap of [...caps, { id: 'mcp-response', kind: 'mcp/response' }]) {
    if (cap && typeof cap === 'object' && typeof cap.kind === 'string') {
      const key = sortedJson(cap);
      if (!seen.has(key)) seen.set(key, cap);
    }
  }
  return Array.from(seen.values());
}
const staticCapabilities = withBaseline(opts.capabilities);

// §4.5 matching.
function payloadOk(value, pattern) {
  if (pattern === undefined || pattern === null) return true;
  if (!value) return false;
  for (const [key, pv] of Object.entries(pattern)) {
    if (typeof pv === 'string') {
      if (pv.startsWith('!')) {
        if (value[key] === pv.slice(1)) return false;
      } else if (pv.endsWith('*')) {
        const v = value[key];
        if (typeof v !== 'string' || v === '' || !v.startsWith(pv.slice(0, -1))) return false;
      } else if (value[key] !== pv) {
        return false;
      }
    } else if (pv && typeof pv === 'object') {
      if (!payloadOk(value[key], pv)) return false;
    }
  }
  return true;
}
function matches(msg, cap) {
  if (cap.kind === '*') return true;
  if (cap.kind.endsWith('/*')) {
    const prefix = cap.kind.slice(0, -1);
    if (typeof msg.kind === 'string' && msg.kind.startsWith(prefix)) {
      return payloadOk(msg.payload, cap.payload);
    }
    return false;
  }
  if (cap.kind === msg.kind) return payloadOk(msg.payload, cap.payload);
  return false;
}

// §2.3 validation; returns the error text or null.
function validationError(msg) {
  if (msg === null || typeof msg !== 'object') return 'Message must be an object';
  if (msg.protocol !== undefined && msg.protocol !== 'mew/v0.4' && msg.protocol !== 'mew/v0.3') {
    return `Invalid protocol version: ${msg.protocol}`;
  }
  if (msg.kind === 'chat' && !(msg.payload && msg.payload.text)) {
    return 'Chat message requires payload.text';
  }
  if (msg.kind === 'mcp/request' && !(msg.payload && msg.payload.method)) {
    return 'MCP request requires payload.method';
  }
  return null;
}

function randomSuffix() {
  return Math.random().toString(36).slice(2, 11);
}

// §6 envelope-history record; key order as the spec lists it.
function logEnvelope(event, envelope, participant, spaceId, direction, metadata) {
  const record = {
    timestamp: new Date().toISOString(),
    event,
    id: envelope.id,
    envelope,
    participant,
    space_id: spaceId,
    direction,
    transport: 'websocket',
  };
  if (metadata) record.metadata = metadata;
  historyLog.write(`${JSON.stringify(record)}\n`);
}

function logDecision(envelope, participant, spaceId, matched, source, granted) {
  const record = {
    timestamp: new Date().toISOString(),
    event: 'capability_check',
    envelope_id: envelope.id,
    participant,
    space_id: spaceId,
    result: matched ? 'allowed' : 'denied',
    required_capability: envelope.kind || 'unknown',
  };
  if (matched) {
    record.matched_capability = matched;
    record.matched_source = source;
  }
  record.granted_capabilities = granted;
  record.metadata = { source: 'websocket', transport: 'websocket' };
  decisionLog.write(`${JSON.stringify(record)}\n`);
}

// spaceId -> Map(participantId -> { ws, capabilities }), in registration order.
const spaces = new Map();

function sendLogged(space, spaceId, recipientId, envelope, text, metadata) {
  const entry = space.get(recipientId);
  if (!entry || entry.ws.readyState !== WebSocket.OPEN) return;
  entry.ws.send(text);
  logEnvelope('delivered', envelope, recipientId, spaceId, 'outbound', metadata);
}

function handleJoin(ws, conn, msg) {
  const payload = msg.payload || {};
  const id = msg.participantId || payload.participantId || `participant-${Date.now()}`;
  const spaceId = msg.space || payload.space || 'default';
  let space = spaces.get(spaceId);
  if (!space) {
    space = new Map();
    spaces.set(spaceId, space);
  }
  space.set(id, { ws, capabilities: staticCapabilities });
  conn.id = id;
  conn.spaceId = spaceId;
  const logged = { ...msg };
  if (logged.token !== undefined) logged.token = '[redacted]';
  logEnvelope('received', logged, id, spaceId, 'inbound');

  const others = [];
  for (const [pid, entry] of space) {
    if (pid !== id) others.push({ id: pid, capabilities: entry.capabilities });
  }
  const welcome = {
    protocol: 'mew/v0.4',
    id: `welcome-${Date.now()}-${randomSuffix()}`,
    ts: new Date().toISOString(),
    from: 'system:gateway',
    to: [id],
    kind: 'system/welcome',
    payload: {
      you: { id, capabilities: staticCapabilities },
      participants: others,
      active_streams: [],
    },
  };
  sendLogged(space, spaceId, id, welcome, JSON.stringify(welcome), { type: 'system/welcome' });

  const presence = {
    protocol: 'mew/v0.4',
    id: `presence-${Date.now()}-${randomSuffix()}`,
    ts: new Date().toISOString(),
    from: 'system:gateway',
    kind: 'system/presence',
    payload: { event: 'join', participant: { id, capabilities: staticCapabilities } },
  };
  const text = JSON.stringify(presence);
  const metadata = { type: 'system/presence', source_participant: id };
  for (const pid of space.keys()) {
    if (pid !== id) sendLogged(space, spaceId, pid, presence, text, metadata);
  }
}

function handleEnvelope(ws, conn, msg) {
  const space = conn.spaceId !== null ? spaces.get(conn.spaceId) : undefined;
  const entry = space ? space.get(conn.id) : undefined;
  const granted = entry ? entry.capabilities : [];
  // §4.4: system/heartbeat is implicit; otherwise the first matching static capability.
  let matched = null;
  let source = 'static';
  if (msg.kind === 'system/heartbeat') {
    matched = { kind: 'system/heartbeat' };
    source = 'implicit';
  } else {
    matched = granted.find((cap) => matches(msg, cap)) || null;
  }
  logDecision(msg, conn.id, conn.spaceId, matched, source, granted);
  if (matched === null || !space) {
    const error = {
      protocol: 'mew/v0.4',
      id: `error-${Date.now()}-${randomSuffix()}`,
      ts: new Date().toISOString(),
      from: 'system:gateway',
      to: [conn.id],
      kind: 'system/error',
      payload: {
        error: 'capability_violation',
        attempted_kind: msg.kind,
        your_capabilities: granted,
      },
    };
    if (msg.id) error.correlation_id = [msg.id];
    ws.send(JSON.stringify(error));
    if (space) {
      logEnvelope('delivered', error, conn.id, conn.spaceId, 'outbound', {
        reason: 'capability_violation',
        source_envelope: msg.id,
      });
    }
    return;
  }

  // §2.2: the four fill-in fields first, then the client's fields in their order.
  const envelope = {
    protocol: msg.protocol || 'mew/v0.4',
    id: msg.id || `msg-${Date.now()}-${randomSuffix()}`,
    ts: msg.ts || new Date().toISOString(),
    from: conn.id,
    ...msg,
  };
  envelope.from = conn.id;
  if (envelope.correlation_id !== undefined && !Array.isArray(envelope.correlation_id)) {
    envelope.correlation_id = [envelope.correlation_id];
  }
  logEnvelope('received', envelope, conn.id, conn.spaceId, 'inbound');

  // §3.2: to everyone, sender included, in registration order.
  const text = JSON.stringify(envelope);
  const metadata = { source_participant: conn.id };
  for (const pid of space.keys()) {
    sendLogged(space, conn.spaceId, pid, envelope, text, metadata);
  }
}

function reply(ws, code, error) {
  ws.send(JSON.stringify({ protocol: 'mew/v0.4', kind: 'system/error', payload: { error, code } }));
}

function handleDisconnect(ws, conn) {
  const space = conn.spaceId !== null ? spaces.get(conn.spaceId) : undefined;
  if (!space || !space.has(conn.id) || space.get(conn.id).ws !== ws) return;
  space.delete(conn.id);
  const presence = {
    protocol: 'mew/v0.4',
    id: `presence-${Date.now()}-${randomSuffix()}`,
    ts: new Date().toISOString(),
    from: 'system:gateway',
    kind: 'system/presence',
    payload: { event: 'leave', participant: { id: conn.id } },
  };
  const text = JSON.stringify(presence);
  const metadata = { type: 'system/presence', source_participant: conn.id, reason: 'disconnect' };
  for (const pid of space.keys()) sendLogged(space, conn.spaceId, pid, presence, text, metadata);
}

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":"not found"}');
});
// Upgrades on any path (§1.1); accept messages ≥ 10 MiB.
const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 * 1024 });

wss.on('connection', (ws) => {
  const conn = { id: null, spaceId: null };
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch (err) {
      reply(ws, 'PROCESSING_ERROR', err.message);
      return;
    }
    try {
      const invalid = validationError(msg);
      if (invalid) {
        reply(ws, 'VALIDATION_ERROR', invalid);
      } else if (msg.type === 'join' || msg.kind === 'system/join') {
        handleJoin(ws, conn, msg);
      } else if (conn.id === null && msg.kind === 'system/heartbeat') {
        // Accepted, then dropped: an un-joined socket has no space (§1.3).
      } else {
        handleEnvelope(ws, conn, msg);
      }
    } catch (err) {
      reply(ws, 'PROCESSING_ERROR', err.message);
    }
  });
  ws.on('close', () => handleDisconnect(ws, conn));
  ws.on('error', () => {});
});

server.listen(opts.port, '127.0.0.1', () => {
  console.log(`Gateway listening on port ${server.address().port}`);
});

function shutdown() {
  for (const client of wss.clients) client.close(1001);
  let pending = 2;
  const done = () => {
    pending -= 1;
    if (pending > 0) return;
    if (ownLogDir) fs.rmSync(logDir, { recursive: true, force: true });
    process.exit(0);
  };
  historyLog.end(done);
  decisionLog.end(done);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
