"""The job lifecycle: the record and its statuses, the plan, carrying a job to its end
(``execute``), and launching it (a runner process of its own, or a thread of this process)."""
