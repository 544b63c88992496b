"""The built-in web dashboard: server-rendered pages behind the API's login and scopes."""
