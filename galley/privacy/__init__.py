"""Personal data sealed at rest: customers' names, phones, addresses and e-mails."""
