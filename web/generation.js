// Generation: the user's jobs as cards, what their limits leave, and saving
// a result to the library.
import { request } from "./api.js";
import { $, el, markdown, streamingBox, submitting } from "./dom.js";
import { loadLibrary } from "./library.js";
import { seen, state } from "./state.js";

export const PENDING = ["queued", "processing"];

export async function loadJobs() {
  $("#jobs-state").textContent = "Loading…";
  try {
    const list = await request("GET", "/generate-content");
    state.jobs.clear();
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

export function updateJob(job) {
  const previous = state.jobs.get(job.jobId);
  state.jobs.set(job.jobId, job);
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
export async function loadUsage() {
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

export function pendingText(job) {
  const seconds = Math.ceil((new Date(job.scheduledFor) - Date.now()) / 1000);
  if (job.status === "queued" && seconds > 0) return `Starting in ${seconds} s`;
  return "Generating…";
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
    if (latest) updateJob({ ...state.jobs.get(job.jobId), ...latest });
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
