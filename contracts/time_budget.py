"""The inference API's time budget, shared by the API stack, the stage config and the predict function.

API Gateway ends a Lambda integration after 29 seconds, counted from the request
(a cold start's initialisation included); Lambda ends the function at its timeout,
counted from the invocation. The predict function answers within both: everything it
spends on the endpoint (connecting, waiting, reading, pausing between attempts) comes
from one budget, and the connect and read timeouts and the number of attempts are
derived from it so that every attempt fits. At run time the function also never
starts a step whose worst case would end after its deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

GATEWAY_TIMEOUT_SECONDS = 29
# Parsing, validation, encoding and the response, on the largest batch.
OWN_WORK_SECONDS = 1.0
# Initialisation of a cold container (imports, statistics) counts against API Gateway's
# 29 seconds but not against the function timeout.
COLD_START_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 8.0
MAX_ATTEMPTS = 3
PAUSE_SECONDS = 0.2  # between attempts (at most; the pause is jittered)
# Fewer attempts rather than a read timeout below this: the model needs time to answer a batch.
MIN_READ_TIMEOUT_SECONDS = 2.0
# One attempt needs a second to connect and read at the least.
MIN_FUNCTION_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class Budget:
    """How long the endpoint call may take in all, and how that time is spent."""

    seconds: float
    connect_timeout: float
    read_timeout: float
    attempts: int

    @property
    def worst_case_seconds(self) -> float:
        """Every attempt timing out, with the pauses between them."""
        return self.attempts * (self.connect_timeout + self.read_timeout) + (self.attempts - 1) * PAUSE_SECONDS


def budget(function_timeout_seconds: float) -> Budget:
    """The endpoint budget of a predict function with this timeout."""
    if function_timeout_seconds < MIN_FUNCTION_TIMEOUT_SECONDS:
        raise ValueError(f"the predict function needs a timeout of at least {MIN_FUNCTION_TIMEOUT_SECONDS} s")
    seconds = min(
        function_timeout_seconds - OWN_WORK_SECONDS,
        GATEWAY_TIMEOUT_SECONDS - COLD_START_SECONDS - OWN_WORK_SECONDS,
    )
    for attempts in range(MAX_ATTEMPTS, 0, -1):
        slot = (seconds - (attempts - 1) * PAUSE_SECONDS) / attempts
        connect = min(CONNECT_TIMEOUT_SECONDS, slot / 4)
        read = min(READ_TIMEOUT_SECONDS, slot - connect)
        if read >= MIN_READ_TIMEOUT_SECONDS or attempts == 1:
            break
    return Budget(seconds=seconds, connect_timeout=connect, read_timeout=read, attempts=attempts)
