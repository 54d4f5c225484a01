// Where the API and Socket.IO are. Locally both share the page's origin; a
// deployment serves its own config.js with the stack's EndpointURL and
// NotifierURL.
export const config = {
  apiUrl: window.location.origin,
  socketUrl: window.location.origin,
};
