// The session: the login page, or the app for a signed-in user.
import { token } from "./api.js";
import { $ } from "./dom.js";
import { loadJobs, loadUsage } from "./generation.js";
import { loadLibrary } from "./library.js";
import { startLive, stopLive } from "./realtime.js";
import { loadVoices } from "./voices.js";
import { state } from "./state.js";

export function showAuth(notice) {
  stopLive();
  state.jobs.clear();
  state.lastSeen = null;
  $("#month-usage").textContent = "";
  $("#jobs").replaceChildren();
  $("#library").replaceChildren();
  $("#voices").replaceChildren();
  $("#app-view").hidden = true;
  $("#account-view").hidden = true;
  $("#session").hidden = true;
  $("#auth-view").hidden = false;
  $("#auth-notice").hidden = !notice;
  $("#auth-notice").textContent = notice || "";
}

export async function showApp(user) {
  $("#auth-view").hidden = true;
  $("#app-view").hidden = false;
  $("#session").hidden = false;
  $("#who").textContent = user.name;
  startLive();
  await Promise.all([loadJobs(), loadLibrary(""), loadUsage(), loadVoices()]);
}

export function logout(notice) {
  token.clear();
  showAuth(notice);
}

export async function signedIn(credentials) {
  token.set(credentials.token);
  await showApp(credentials);
}
