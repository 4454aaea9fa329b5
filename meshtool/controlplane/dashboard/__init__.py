"""The read-only web dashboard (:5681/gui): pages built in the browser from a small JSON API."""
