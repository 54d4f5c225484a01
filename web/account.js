// The user's own account: logging out for real (here or everywhere), a new
// password, a forgotten one, taking the data out, and deleting the account.
import { request, token } from "./api.js";
import { $, submitting } from "./dom.js";
import { logout, showAuth } from "./session.js";

const RESET_PREFIX = "#reset=";

function onSubmit(selector, action) {
  const form = $(selector);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, action);
  });
}

// The token stops working on the server, not only in this browser.
async function endSession(everywhere) {
  // A token the server already refuses is as good as ended.
  await request("POST", "/auth/logout", { everywhere }).catch(() => null);
  logout(everywhere ? "You have been logged out on every device." : undefined);
}

async function describeDeletion() {
  const [items, jobs] = await Promise.all([request("GET", "/content"),
    request("GET", "/generate-content")]);
  $("#delete-what").textContent = `This deletes your account, the ${items.length} ` +
    `item${items.length === 1 ? "" : "s"} of your library and your ${jobs.length} ` +
    `generation job${jobs.length === 1 ? "" : "s"} with their usage, for good; ` +
    "unfinished jobs are cancelled first.";
}

// Every page of the export, joined into the one document it describes.
async function downloadData() {
  const data = { profile: null, contents: [], jobs: [] };
  let cursor = null;
  do {
    const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
    const page = await request("GET", `/auth/me/export${query}`);
    data.profile = page.profile;
    data.contents.push(...page.contents);
    data.jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)],
    { type: "application/json" }));
  link.download = "my-data.json";
  link.click();
  URL.revokeObjectURL(link.href);
}

export function showReset(linkToken) {
  showAuth();
  $("#reset-form").hidden = false;
  $("#reset-form").dataset.token = linkToken;
}

export function wireAccount() {
  $("#logout").addEventListener("click", () => endSession(false));
  $("#logout-everywhere").addEventListener("click", () => endSession(true));
  $("#account-toggle").addEventListener("click", async () => {
    $("#account-view").hidden = !$("#account-view").hidden;
    if (!$("#account-view").hidden) await describeDeletion();
  });
  $("#export").addEventListener("click", () => downloadData());

  onSubmit("#password-form", async (fields) => {
    const credentials = await request("PUT", "/auth/password", fields);
    token.set(credentials.token);
    $("#password-form").reset();
    $("#password-done").textContent = "Password changed; your other sessions have ended.";
  });
  onSubmit("#delete-form", async (fields) => {
    await request("DELETE", "/auth/me", fields);
    token.clear();
    showAuth("Your account and everything in it have been deleted.");
  });
  onSubmit("#forgot-form", async (fields) => {
    const answer = await request("POST", "/auth/forgot-password", fields);
    $("#forgot-done").textContent = answer.message;
  });
  onSubmit("#reset-form", async (fields) => {
    await request("POST", "/auth/reset-password",
      { token: $("#reset-form").dataset.token, password: fields.password });
    history.replaceState(null, "", window.location.pathname);
    $("#reset-form").hidden = true;
    showAuth("Your password has been reset. Please log in with it.");
  });
}

// A reset link from the mail opens the client at #reset=<token>.
export function resetLinkToken() {
  const hash = window.location.hash;
  return hash.startsWith(RESET_PREFIX) ? hash.slice(RESET_PREFIX.length) : null;
}
