// Note-taker: appends each chat message of the space to notes/notes.md and acknowledges it.
// Node 22+ (global WebSocket); configuration comes from the environment mew sets.
const fs = require('fs');
const path = require('path');

const gateway = process.env.MEW_GATEWAY || 'ws://localhost:8080';
const space = process.env.MEW_SPACE;
const me = process.env.MEW_PARTICIPANT_ID || 'assistant';
const token = process.env.MEW_TOKEN;
const notes = path.join('notes', 'notes.md');

fs.mkdirSync('notes', { recursive: true });
const ws = new WebSocket(gateway);
let counter = 0;
const send = (kind, to, payload, correlation) =>
  ws.send(JSON.stringify({
    protocol: 'mew/v0.4', id: `${me}-${Date.now()}-${counter++}`, ts: new Date().toISOString(),
    from: me, to, kind, payload, ...(correlation ? { correlation_id: [correlation] } : {}),
  }));

ws.onopen = () => ws.send(JSON.stringify({ type: 'join', participantId: me, space, token }));
ws.onmessage = (event) => {
  const env = JSON.parse(event.data);
  if (env.kind !== 'chat' || env.from === me || !env.payload || typeof env.payload.text !== 'string') return;
  fs.appendFileSync(notes, `- ${env.ts} **${env.from}**: ${env.payload.text}\n`);
  send('chat', [env.from], { text: `noted (${notes})`, format: 'plain' }, env.id);
};
ws.onclose = () => process.exit(0);
