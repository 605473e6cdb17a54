"""Small helpers with no domain knowledge: ids, money, time, pagination."""
