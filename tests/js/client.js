// Connects as the contract's frontend code does, io(url, {auth: {token}}),
// and prints one JSON line per happening so the Python test can follow it.
const { io } = require("socket.io-client");

// An optional third argument limits the transports, e.g. "polling".
const [url, token, transport] = process.argv.slice(2);
const options = { auth: { token }, reconnection: false };
if (transport) options.transports = [transport];
const socket = io(url, options);
const print = (kind, data) => console.log(JSON.stringify({ kind, data }));

socket.on("connect", () => print("connect", socket.id));
socket.on("connect_error", (error) => {
  print("connect_error", error.message);
  process.exit(0);
});
socket.on("job_completed", (payload) => print("job_completed", payload));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
