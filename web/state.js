// The page's state, in one place: the jobs it shows, its live connection,
// and the latest completedAt it knows of (a reconnecting socket asks the
// notifier for every result finished since then: auth.since).
export const state = {
  jobs: new Map(),
  socket: null,
  timers: [],
  lastSeen: null,
  searchTimer: undefined,
};

export function seen(completedAt) {
  if (completedAt && (!state.lastSeen || completedAt > state.lastSeen)) {
    state.lastSeen = completedAt;
  }
}
