"""The county's data feed: what happened in the hub (lessons started and ended, recordings
ready, attendance final, classrooms dropped during a lesson) as events kept in the catalog,
read by pull (``GET /api/events``) and pushed to webhooks signed with HMAC."""
