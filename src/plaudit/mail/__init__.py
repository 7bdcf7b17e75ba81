"""The worker side of notifications: rendering, SMTP, and the job queue's tasks."""
