"""The service hall: tickets and calling, visitor flow, ratings and complaints, and the lead's hall dashboard."""
