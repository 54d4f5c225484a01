// The web client: the contract's implementation checklist, in one page.
import { ApiError, request, token, whenUnauthorized } from "./api.js";
import { config } from "./config.js";
import DOMPurify from "./vendor/purify.es.js";
import { marked } from "./vendor/marked.esm.js";
import { io } from "./vendor/socket.io.esm.min.js";

const CONTENT_TYPES = ["Blog Post Outline", "Product Description", "Social Media Caption"];
const PENDING = ["queued", "processing"];
const POLL_MS = 3000;

const $ = (selector) => document.querySelector(selector);
const jobs = new Map();
let socket = null;
let timers = [];
// The latest completedAt this page knows of: a reconnecting socket asks the
// notifier for every result finished since then (auth.since).
let lastSeen = null;

// Markdown from users and from the AI is sanitised before it becomes HTML,
// so <script> or <img onerror> in it does nothing.
function markdown(text) {
  const box = document.createElement("div");
  box.className = "markdown";
  box.innerHTML = DOMPurify.sanitize(marked.parse(text || ""));
  return box;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function typeOptions(select, selected) {
  select.replaceChildren(...CONTENT_TYPES.map((type) => {
    const option = el("option", { value: type }, type);
    option.selected = type === selected;
    return option;
  }));
}

// Runs a form's request with a busy button and its error shown in the form.
async function submitting(form, action) {
  const button = form.querySelector("button[type=submit]");
  const error = form.querySelector(".error");
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Working…";
  error.textContent = "";
  try {
    await action(Object.fromEntries(new FormData(form)));
  } catch (failure) {
    error.textContent = failure instanceof ApiError ? failure.message : String(failure);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

// --- session -------------------------------------------------------------

function showAuth(notice) {
  stopLive();
  jobs.clear();
  lastSeen = null;
  $("#month-usage").textContent = "";
  $("#jobs").replaceChildren();
  $("#library").replaceChildren();
  $("#app-view").hidden = true;
  $("#session").hidden = true;
  $("#auth-view").hidden = false;
  $("#auth-notice").hidden = !notice;
  $("#auth-notice").textContent = notice || "";
}

async function showApp(user) {
  $("#auth-view").hidden = true;
  $("#app-view").hidden = false;
  $("#session").hidden = false;
  $("#who").textContent = user.name;
  connectSocket();
  timers = [setInterval(tick, 1000), setInterval(poll, POLL_MS)];
  await Promise.all([loadJobs(), loadLibrary(""), loadUsage()]);
}

function logout(notice) {
  token.clear();
  showAuth(notice);
}

function stopLive() {
  timers.forEach(clearInterval);
  timers = [];
  socket?.disconnect();
  socket = null;
}

whenUnauthorized(() => logout("Your session has ended. Please log in again."));

async function signedIn(credentials) {
  token.set(credentials.token);
  await showApp(credentials);
}

// --- real time ------------------------------------------------------------

function connectSocket() {
  let connectedBefore = false;
  // A function, so every reconnect sends the time of the last result seen.
  // With none seen yet, every finished job is one this page has not shown.
  const auth = (send) => send(connectedBefore
    ? { token: token.get(), since: lastSeen || new Date(0).toISOString() }
    : { token: token.get() });
  socket = io(config.socketUrl, { auth });
  const state = $("#socket-state");
  socket.on("connect", () => {
    connectedBefore = true;
    state.textContent = "live";
    state.dataset.state = "live";
  });
  const down = () => { state.textContent = "polling"; state.dataset.state = "polling"; };
  socket.on("disconnect", down);
  socket.on("connect_error", down);
  socket.on("job_completed", (event) => {
    seen(event.completedAt);
    const job = jobs.get(event.jobId);
    // A caught-up result this page already shows is shown once, not twice.
    if (job && PENDING.includes(job.status)) finished({ ...job, ...event });
  });
  socket.on("job_progress", (event) => {
    const job = jobs.get(event.jobId);
    if (job && PENDING.includes(job.status)) streamed(job, event.text);
  });
}

function seen(completedAt) {
  if (completedAt && (!lastSeen || completedAt > lastSeen)) lastSeen = completedAt;
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

// The text so far, rendered as safely as the final result.
function streamed(job, text) {
  job.text = text;
  const card = document.querySelector(`[data-job="${job.jobId}"]`);
  const live = card?.querySelector(".markdown.streaming");
  if (live) live.replaceWith(streamingBox(text));
  else card?.querySelector(".prompt").after(streamingBox(text));
}

function streamingBox(text) {
  const box = markdown(text);
  box.classList.add("streaming");
  return box;
}

// Without a socket, pending jobs are fetched until they finish.
async function poll() {
  if (socket?.connected) return;
  for (const job of jobs.values()) {
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
  for (const job of jobs.values()) {
    if (PENDING.includes(job.status)) {
      const status = document.querySelector(`[data-job="${job.jobId}"] .status`);
      if (status) status.textContent = pendingText(job);
    }
  }
}

function pendingText(job) {
  const seconds = Math.ceil((new Date(job.scheduledFor) - Date.now()) / 1000);
  if (job.status === "queued" && seconds > 0) return `Starting in ${seconds} s`;
  return "Generating…";
}

// --- generation -------------------------------------------------------------

async function loadJobs() {
  $("#jobs-state").textContent = "Loading…";
  try {
    const list = await request("GET", "/generate-content");
    jobs.clear();
    $("#jobs").replaceChildren();
    for (const job of list.reverse()) {
      seen(job.completedAt);
      updateJob(job);
    }
    $("#jobs-state").textContent = list.length ? "" : "Nothing generated yet.";
  } catch (failure) {
    $("#jobs-state").textContent = failure.message;
  }
}

function updateJob(job) {
  const previous = jobs.get(job.jobId);
  jobs.set(job.jobId, job);
  const existing = document.querySelector(`[data-job="${job.jobId}"]`);
  if (existing && previous?.status === job.status && previous?.usage === job.usage) return;
  const card = renderJob(job);
  if (existing) existing.replaceWith(card);
  else $("#jobs").prepend(card);
  $("#jobs-state").textContent = "";
  // A job that ends frees its slot.
  if (previous && PENDING.includes(previous.status) && !PENDING.includes(job.status)) loadUsage();
}

// What the user's limits leave and what this month cost (GET /usage),
// beside the form it limits.
async function loadUsage() {
  try {
    const usage = await request("GET", "/usage");
    $("#month-usage").textContent =
      `This month: ${usage.month.jobs} generations · ${spent(usage.month)}`;
    const atOnce = Math.max(0, usage.maxActiveJobs - usage.activeJobs);
    const today = Math.max(0, usage.maxJobsPerDay - usage.jobsLast24h);
    const parts = [`Left: ${atOnce} of ${usage.maxActiveJobs} at once`,
      `${today} of ${usage.maxJobsPerDay} in 24 h`];
    if (usage.nextSlotAt) {
      parts.push(`next slot at ${new Date(usage.nextSlotAt).toLocaleTimeString()}`);
    }
    $("#usage").textContent = parts.join(" · ");
  } catch {
    $("#usage").textContent = "";
    $("#month-usage").textContent = "";
  }
}

function renderJob(job) {
  const card = el("li", { class: "card job", "data-job": job.jobId },
    el("div", { class: "row" },
      el("span", { class: "badge" }, job.contentType),
      el("span", { class: `status ${job.status}`, "aria-live": "polite" },
        PENDING.includes(job.status) ? pendingText(job) : job.status)),
    el("p", { class: "prompt" }, job.prompt));
  if (job.status === "completed") {
    card.append(markdown(job.generatedContent), saveForm(job));
  } else if (job.error) {
    card.append(el("p", { class: "error" }, `Generation failed: ${job.error}`));
  } else if (job.text) {
    card.append(streamingBox(job.text));
  }
  if (PENDING.includes(job.status)) card.append(cancelButton(job));
  if (job.usage) card.append(el("p", { class: "spend muted" }, spent(job.usage, job.model)));
  return card;
}

function cancelButton(job) {
  const button = el("button", { type: "button", class: "link danger" }, "Cancel");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await request("POST", `/generate-content/${job.jobId}/cancel`);
    } catch (failure) {
      // Already finished: its result is on its way or already shown.
      if (failure.status !== 400) alert(failure.message);
    }
    const latest = await request("GET", `/generate-content/${job.jobId}`).catch(() => null);
    if (latest) updateJob({ ...jobs.get(job.jobId), ...latest });
  });
  return el("div", { class: "row actions" }, button);
}

function spent(usage, model) {
  const tokens = `${(usage.totalTokens || 0).toLocaleString("en")} tokens`;
  const cost = `$${(usage.cost || 0).toFixed(6)}`;
  return [tokens, cost, model].filter(Boolean).join(" · ");
}


function saveForm(job) {
  const form = el("form", { class: "inline" },
    el("label", {}, "Title (optional) ", el("input", { name: "title", placeholder: job.prompt })),
    el("button", { type: "submit" }, "Save to library"),
    el("p", { class: "error", role: "alert" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async ({ title }) => {
      await request("POST", `/generate-content/${job.jobId}/save`, title ? { title } : {});
      form.replaceChildren(el("p", { class: "saved" }, "Saved to your library."));
      await loadLibrary($("#search").value);
    });
  });
  return form;
}

// --- library ------------------------------------------------------------------

async function loadLibrary(search) {
  $("#library-state").textContent = "Loading…";
  try {
    const query = search ? `?search=${encodeURIComponent(search)}` : "";
    const items = await request("GET", `/content${query}`);
    $("#library").replaceChildren(...items.map(renderItem));
    $("#library-state").textContent = items.length ? "" :
      search ? "Nothing matches your search." : "Your library is empty.";
  } catch (failure) {
    $("#library-state").textContent = failure.message;
  }
}

function renderItem(item) {
  const card = el("li", { class: "card item", "data-item": item._id },
    el("div", { class: "row" },
      el("h3", {}, item.title),
      el("span", { class: "badge" }, item.type)),
    markdown(item.body),
    el("div", { class: "row actions" },
      el("button", { type: "button", class: "link", onclick: () => card.replaceWith(editForm(item)) },
        "Edit"),
      el("button", { type: "button", class: "link danger", onclick: () => remove(item, card) },
        "Delete")));
  return card;
}

function editForm(item) {
  const type = el("select", { name: "type" });
  typeOptions(type, item.type);
  const title = el("input", { name: "title", required: "" });
  title.value = item.title;
  const body = el("textarea", { name: "body", rows: "5", required: "" });
  body.value = item.body;
  const form = el("form", { class: "card item" },
    el("label", {}, "Title ", title), el("label", {}, "Type ", type),
    el("label", {}, "Body ", body), el("p", { class: "error", role: "alert" }),
    el("div", { class: "row actions" },
      el("button", { type: "submit" }, "Save changes"),
      el("button", { type: "button", class: "link", onclick: () => form.replaceWith(renderItem(item)) },
        "Cancel")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async (fields) => {
      form.replaceWith(renderItem(await request("PUT", `/content/${item._id}`, fields)));
    });
  });
  return form;
}

async function remove(item, card) {
  if (!confirm(`Delete "${item.title}"? This cannot be undone.`)) return;
  try {
    await request("DELETE", `/content/${item._id}`);
    card.remove();
  } catch (failure) {
    alert(failure.message);
  }
}

// --- wiring ---------------------------------------------------------------------

function onSubmit(selector, action) {
  const form = $(selector);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, action);
  });
}

document.querySelectorAll("select.content-types").forEach((select) => typeOptions(select));
$("#logout").addEventListener("click", () => logout());

onSubmit("#login-form", async (fields) => signedIn(await request("POST", "/auth/login", fields)));
onSubmit("#register-form", async (fields) =>
  signedIn(await request("POST", "/auth/register", fields)));
onSubmit("#generate-form", async (fields) => {
  try {
    const queued = await request("POST", "/generate-content", fields);
    updateJob({ ...fields, ...queued, createdAt: new Date().toISOString() });
    $("#generate-form").reset();
  } finally {
    loadUsage();
  }
});
onSubmit("#create-form", async (fields) => {
  await request("POST", "/content", fields);
  $("#create-form").reset();
  await loadLibrary($("#search").value);
});

let searchTimer;
$("#search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadLibrary(event.target.value.trim()), 250);
});

if (token.get()) {
  request("GET", "/auth/me").then(showApp).catch(() => logout());
} else {
  showAuth();
}
