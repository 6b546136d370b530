"""Background work: the typed jobs the listeners submit, and the worker that claims them once, runs them on its
thread pools within compute slots, keeps their leases alive, and takes over the ones a stopped replica left.

Storage of the claims is the store's (`bot.store.work.WorkQueue`); what each job does is registered by the parts
that know how (`bot.runtime` wires posting verdicts to `bot.slack.delivery` and the rest to `bot.slack.threads`)."""

from bot.work.jobs import Job, Question, Review, VerdictJob, job_of
from bot.work.worker import Worker

__all__ = ["Job", "Question", "Review", "VerdictJob", "Worker", "job_of"]
