// Real time: results and the text so far over Socket.IO, and polling while
// the socket is down.
import { request, token } from "./api.js";
import { config } from "./config.js";
import { $, streamingBox } from "./dom.js";
import { PENDING, pendingText, updateJob } from "./generation.js";
import { seen, state } from "./state.js";
import { io } from "./vendor/socket.io.esm.min.js";

const POLL_MS = 3000;

export function startLive() {
  connectSocket();
  state.timers = [setInterval(tick, 1000), setInterval(poll, POLL_MS)];
}

export function stopLive() {
  state.timers.forEach(clearInterval);
  state.timers = [];
  state.socket?.disconnect();
  state.socket = null;
}

function connectSocket() {
  let connectedBefore = false;
  // A function, so every reconnect sends the time of the last result seen.
  // With none seen yet, every finished job is one this page has not shown.
  const auth = (send) => send(connectedBefore
    ? { token: token.get(), since: state.lastSeen || new Date(0).toISOString() }
    : { token: token.get() });
  const socket = io(config.socketUrl, { auth });
  state.socket = socket;
  const indicator = $("#socket-state");
  socket.on("connect", () => {
    connectedBefore = true;
    indicator.textContent = "live";
    indicator.dataset.state = "live";
  });
  const down = () => { indicator.textContent = "polling"; indicator.dataset.state = "polling"; };
  socket.on("disconnect", down);
  socket.on("connect_error", down);
  socket.on("job_completed", (event) => {
    seen(event.completedAt);
    const job = state.jobs.get(event.jobId);
    // A caught-up result this page already shows is shown once, not twice.
    if (job && PENDING.includes(job.status)) finished({ ...job, ...event });
  });
  socket.on("job_progress", (event) => {
    const job = state.jobs.get(event.jobId);
    if (job && PENDING.includes(job.status)) streamed(job, event.text);
  });
}

// The socket's job_completed carries only the contract's fields; the job
// itself adds what it cost.
async function finished(job) {
  updateJob(job);
  try {
    updateJob({ ...job, ...(await request("GET", `/generate-content/${job.jobId}`)) });
  } catch {
    // The result is shown; its cost appears on the next load.
  }
}

function streamed(job, text) {
  job.text = text;
  const card = document.querySelector(`[data-job="${job.jobId}"]`);
  const live = card?.querySelector(".markdown.streaming");
  if (live) live.replaceWith(streamingBox(text));
  else card?.querySelector(".prompt").after(streamingBox(text));
}

// Without a socket, pending jobs are fetched until they finish.
async function poll() {
  if (state.socket?.connected) return;
  for (const job of state.jobs.values()) {
    if (!PENDING.includes(job.status)) continue;
    try {
      const latest = await request("GET", `/generate-content/${job.jobId}`);
      seen(latest.completedAt);
      updateJob({ ...job, ...latest });
    } catch {
      return;
    }
  }
}

function tick() {
  for (const job of state.jobs.values()) {
    if (PENDING.includes(job.status)) {
      const status = document.querySelector(`[data-job="${job.jobId}"] .status`);
      if (status) status.textContent = pendingText(job);
    }
  }
}
