"""The deadline calendar: a month view, the next 90 days, and a private subscription feed (iCalendar)."""
