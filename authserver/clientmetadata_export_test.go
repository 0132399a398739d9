package authserver

// RegistrationBadInputs exposes the table of bad registration requests to the HTTP-level test
// in package authserver_test.
var RegistrationBadInputs = registrationBadInputs
