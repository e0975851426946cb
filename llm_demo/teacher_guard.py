"""Wrong teacher tokens are slowed down and then locked out, per client and over the whole server, so the teacher
endpoints (/teacher_totals, /teacher_export, /teacher_reset, public like every Gradio API) cannot be guessed.

    guard = Guard(); guard.check(client)  # raises ValueError while locked;  guard.failed(client) after a miss
"""
import logging
import threading
import time
from collections import deque

log = logging.getLogger("llm_demo")

WINDOW_S = 600        # failures count for 10 minutes
PER_CLIENT = 5        # wrong tokens from one client in the window, then that client is locked out
OVERALL = 20          # wrong tokens from everyone in the window, then the teacher view is locked for all
DELAY_S = 1.0         # each wrong answer waits this long times the client's recent failures (at most PER_CLIENT)
MIN_TOKEN_CHARS = 16  # a shorter LLM_DEMO_TEACHER_TOKEN is refused at start (app.py)


def token_problem(token: str) -> str:
    """'' when the deployer's teacher token is acceptable (or unset), else the sentence app.py exits with."""
    if token and len(token) < MIN_TOKEN_CHARS:
        return (f"LLM_DEMO_TEACHER_TOKEN is {len(token)} characters long: use at least {MIN_TOKEN_CHARS} (for example "
                "`python -c \"import secrets; print(secrets.token_urlsafe(24))\"`), since a short token can be guessed "
                "through the public API and lets anyone delete the class's votes.")
    return ""


class Guard:
    def __init__(self, per_client=PER_CLIENT, overall=OVERALL, window_s=WINDOW_S, delay_s=DELAY_S,
                 clock=time.monotonic, sleep=time.sleep):
        self.per_client, self.overall, self.window_s, self.delay_s = per_client, overall, window_s, delay_s
        self.clock, self.sleep = clock, sleep
        self.by_client: dict[str, deque] = {}
        self.everyone: deque = deque()
        self.lock = threading.Lock()

    def _recent(self, times: deque, now: float) -> deque:
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def check(self, client: str) -> None:
        """Raise ValueError (a sentence) while this client, or everyone, is locked out: even a right token waits."""
        with self.lock:
            now = self.clock()
            mine = self._recent(self.by_client.get(client, deque()), now)
            everyone = self._recent(self.everyone, now)
            for times, limit, who in ((mine, self.per_client, "from this computer"),
                                      (everyone, self.overall, "on this server")):
                if len(times) >= limit:
                    wait = times[-limit] + self.window_s - now
                    raise ValueError(f"Too many wrong teacher tokens {who}: the teacher view is locked for "
                                     f"{max(1, round(wait / 60))} more minute(s). Nothing was shown or changed.")

    def failed(self, client: str) -> None:
        """Record a wrong token (one log line) and make its answer wait longer with each recent failure."""
        with self.lock:
            now = self.clock()
            mine = self._recent(self.by_client.setdefault(client, deque()), now)
            mine.append(now)
            self.everyone.append(now)
            n, total = len(mine), len(self._recent(self.everyone, now))
        log.warning("teacher token refused: client %s, %d wrong in %d min from it, %d from everyone", client, n,
                    self.window_s // 60, total)
        self.sleep(self.delay_s * min(n, self.per_client))
