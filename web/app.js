// The web client: the contract's implementation checklist, in one page.
// This module wires the page's forms to the modules that do the work.
import { resetLinkToken, showReset, wireAccount } from "./account.js";
import { request, token, whenUnauthorized } from "./api.js";
import { typeOptions } from "./content-types.js";
import { $, submitting } from "./dom.js";
import { loadUsage, showQueued } from "./generation.js";
import { loadLibrary } from "./library.js";
import { buildOptions, collectOptions, showFor } from "./options.js";
import { wireVoiceForm } from "./voices.js";
import { logout, showApp, showAuth, signedIn } from "./session.js";
import { state } from "./state.js";

function onSubmit(selector, action) {
  const form = $(selector);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, action);
  });
}

whenUnauthorized(() => logout("Your session has ended. Please log in again."));

document.querySelectorAll("select.content-types").forEach((select) => typeOptions(select));
wireAccount();

onSubmit("#login-form", async (fields) => signedIn(await request("POST", "/auth/login", fields)));
onSubmit("#register-form", async (fields) =>
  signedIn(await request("POST", "/auth/register", fields)));
onSubmit("#generate-form", async ({ prompt, contentType }) => {
  const options = collectOptions(contentType);
  const body = { prompt, contentType };
  if (Object.keys(options).length) body.options = options;
  try {
    showQueued(body, await request("POST", "/generate-content", body));
    $("#generate-form [name=prompt]").value = "";
  } finally {
    loadUsage();
  }
});
$("#generate-form [name=contentType]").addEventListener("change",
  (event) => showFor(event.target.value));
buildOptions();
wireVoiceForm();
onSubmit("#create-form", async (fields) => {
  await request("POST", "/content", fields);
  $("#create-form").reset();
  await loadLibrary($("#search").value);
});

$("#search").addEventListener("input", (event) => {
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(() => loadLibrary(event.target.value.trim()), 250);
});

if (resetLinkToken()) {
  showReset(resetLinkToken());
} else if (token.get()) {
  request("GET", "/auth/me").then(showApp).catch(() => logout());
} else {
  showAuth();
}
