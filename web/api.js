// The REST API, as the contract describes it: JSON in, JSON out, a bearer
// token on every request, and every error a {message}.
import { config } from "./config.js";

const TOKEN_KEY = "access_token";
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `Request failed (${status})`);
    this.status = status;
    this.body = body;
  }
}

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY),
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export async function request(method, path, body) {
  const headers = {};
  if (token.get()) headers.Authorization = `Bearer ${token.get()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(config.apiUrl + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { message: "The server cannot be reached. Please try again." });
  }
  const data = await response.json().catch(() => null);
  if (response.status === 401 && token.get()) onUnauthorized(data?.message);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// A file the API serves (an export), with the name it suggests for it.
export async function download(path) {
  const response = await fetch(config.apiUrl + path, {
    headers: { Authorization: `Bearer ${token.get()}` },
  });
  if (!response.ok) {
    throw new ApiError(response.status, await response.json().catch(() => null));
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] || "content";
  return { blob: await response.blob(), name };
}
