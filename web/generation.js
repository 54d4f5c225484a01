// Generation: the user's jobs as cards, what their limits leave, and saving
// a result to the library: one of its variants, or into the item it rewrote.
import { request } from "./api.js";
import { $, el, markdown, streamingBox, submitting } from "./dom.js";
import { loadLibrary } from "./library.js";
import { platformLimits } from "./options.js";
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
    card.append(results(job));
    if (job.notice) card.append(el("p", { class: "notice" }, job.notice));
    if (job.finishReason === "length") {
      card.append(el("p", { class: "cut" },
        "Cut short at the length limit: the text may end mid-sentence."));
    }
    card.append(saveForm(job));
  } else if (job.error) {
    card.append(el("p", { class: "error" }, `Generation failed: ${job.error}`));
  } else if (job.text) {
    card.append(streamingBox(job.text));
  }
  if (PENDING.includes(job.status)) card.append(cancelButton(job));
  else card.append(regenerateButton(job));
  if (job.usage) card.append(el("p", { class: "spend muted" }, spent(job.usage, job.model)));
  return card;
}

// The result, or its variants side by side, each with its character count
// against the caption platform's limit.
function results(job) {
  const texts = job.variants?.length > 1 ? job.variants : [job.generatedContent];
  job.chosen ??= 1;
  const grid = el("div", { class: texts.length > 1 ? "variants" : "" });
  texts.forEach((text, index) => {
    const pane = el("div", { class: "variant", "data-variant": String(index + 1) },
      markdown(text), characterCount(job, text));
    if (texts.length > 1) {
      pane.classList.toggle("chosen", job.chosen === index + 1);
      pane.append(el("button", {
        type: "button", class: "link",
        onclick: () => {
          job.chosen = index + 1;
          grid.querySelectorAll(".variant").forEach((other) =>
            other.classList.toggle("chosen", other === pane));
        },
      }, "Use this one"));
    }
    grid.append(pane);
  });
  return grid;
}

function characterCount(job, text) {
  const platform = job.options?.platform;
  if (!platform) return null;
  const count = el("p", { class: "count muted" });
  platformLimits().then((limits) => {
    const { name, characters } = limits[platform];
    const used = [...text].length;
    count.textContent = `${used.toLocaleString("en")} / ${characters.toLocaleString("en")} ` +
      `characters (${name})`;
    count.classList.toggle("error", used > characters);
  });
  return count;
}

// A job just queued, shown with the inputs it was asked with.
export function showQueued(inputs, queued) {
  const { prompt, contentType, options, rewrite } = inputs;
  updateJob({ prompt, contentType, options, rewrite, ...queued,
    createdAt: new Date().toISOString() });
}

function regenerateButton(job) {
  const button = el("button", { type: "button", class: "link" }, "Regenerate");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const queued = await request("POST", `/generate-content/${job.jobId}/regenerate`);
      showQueued(job, queued);
    } catch (failure) {
      alert(failure.message);
    } finally {
      button.disabled = false;
      loadUsage();
    }
  });
  return el("div", { class: "row actions" }, button);
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
  // A server that reports no usage has its tokens estimated from the text.
  const tokens = usage.estimated
    ? `about ${(usage.totalTokens || 0).toLocaleString("en")} tokens (estimated)`
    : `${(usage.totalTokens || 0).toLocaleString("en")} tokens`;
  const cost = `$${(usage.cost || 0).toFixed(6)}`;
  return [tokens, cost, model].filter(Boolean).join(" · ");
}

function saveForm(job) {
  const form = el("form", { class: "inline" },
    el("label", {}, "Title (optional) ", el("input", { name: "title", placeholder: job.prompt })),
    el("div", { class: "row" },
      el("button", { type: "submit", value: "new" }, job.rewrite ? "Save as new item" :
        "Save to library"),
      job.rewrite ? el("button", { type: "submit", value: "replace" }, "Replace the original")
        : null),
    el("p", { class: "error", role: "alert" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const replace = event.submitter?.value === "replace";
    submitting(form, async ({ title }) => {
      const body = title ? { title } : {};
      if (job.variants?.length > 1) body.variant = job.chosen;
      if (replace) body.replace = true;
      await request("POST", `/generate-content/${job.jobId}/save`, body);
      form.replaceChildren(el("p", { class: "saved" },
        replace ? "The original was replaced." : "Saved to your library."));
      await loadLibrary($("#search").value);
    }, event.submitter);
  });
  return form;
}
