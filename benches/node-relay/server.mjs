// duet-node-relay: the Node baseline of docs/benchmarks.md, what users would otherwise run.
//
// A socket.io 4 server (its defaults: the `ws` engine, no per-message deflate) speaking the
// subset of Duet's wire protocol that duet-load uses, written the way the Node app Duet descends
// from did it (jsonwebtoken, an auth middleware, handlers per socket): `POST /api/guest/session`
// answers an HS256 token, the Socket.IO handshake presents it and is verified, `user:match`
// pairs guests that name the same interests, `chat:message` is forwarded to the partner and
// acked. No store, no limits, no validation beyond the token: the same work as the bare
// socketioxide relay (benches/bare-relay). Started by scripts/bench, never by the tests.
//
//   npm ci && node server.mjs 3000

import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import jwt from "jsonwebtoken";
import { Server } from "socket.io";

const SECRET = "node-relay-secret-node-relay-secret";
const port = Number(process.argv[2] ?? 3000);

const http = createServer((request, response) => {
  if (request.method === "POST" && request.url === "/api/guest/session") {
    const id = randomUUID();
    const token = jwt.sign({ sub: id }, SECRET, { algorithm: "HS256", expiresIn: "2h" });
    const body = JSON.stringify({ token, guest: { id, username: "guest" } });
    response.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    response.end(body);
  } else if (request.method === "GET" && request.url === "/health") {
    response.end("ok");
  } else if (!request.url.startsWith("/socket.io/")) {
    response.writeHead(404).end();
  }
});
// As Duet and the bare relay do: small writes go out at once.
http.on("connection", (socket) => socket.setNoDelay(true));

const io = new Server(http, { serveClient: false, cors: { origin: true } });

// interests (as JSON) → the socket waiting with them
const waiting = new Map();

io.use((socket, next) => {
  try {
    const claims = jwt.verify(String(socket.handshake.auth?.token ?? ""), SECRET, {
      algorithms: ["HS256"],
    });
    socket.data.guest = claims.sub;
    next();
  } catch {
    next(new Error("AUTH_INVALID"));
  }
});

io.on("connection", (socket) => {
  socket.on("user:match", (payload, ack) => {
    const interests = JSON.stringify(payload?.interests ?? null);
    if (typeof ack === "function") ack({ ok: true, status: "waiting" });
    const other = waiting.get(interests);
    if (!other || !other.connected) {
      waiting.set(interests, socket);
      return;
    }
    waiting.delete(interests);
    const roomId = randomUUID();
    socket.data.partner = other;
    socket.data.roomId = roomId;
    other.data.partner = socket;
    other.data.roomId = roomId;
    for (const [to, partner, initiator] of [
      [other, socket, true],
      [socket, other, false],
    ]) {
      to.emit("user:matched", {
        roomId,
        partner: { id: partner.data.guest, username: "guest" },
        initiator,
        commonInterests: [],
        iceServers: [],
      });
    }
  });

  socket.on("chat:message", (message, ack) => {
    const partner = socket.data.partner;
    if (!partner || !partner.connected) {
      if (typeof ack === "function") {
        ack({ ok: false, error: { code: "NOT_IN_CHAT", message: "not in a chat" } });
      }
      return;
    }
    const id = randomUUID();
    const sentAt = new Date().toISOString();
    partner.emit("chat:message", {
      id,
      roomId: socket.data.roomId,
      from: socket.data.guest,
      text: message?.text,
      clientId: message?.clientId,
      sentAt,
    });
    if (typeof ack === "function") ack({ ok: true, id, sentAt });
  });

  socket.on("disconnect", () => {
    for (const [interests, waiter] of waiting) {
      if (waiter === socket) waiting.delete(interests);
    }
    const partner = socket.data.partner;
    if (partner?.data.partner === socket) partner.data.partner = undefined;
    socket.data.partner = undefined;
  });
});

http.listen(port, "127.0.0.1");
