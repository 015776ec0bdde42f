// Starts Swagger UI on this server's own document. validatorUrl: null keeps
// the page from asking swagger.io to validate it: no request leaves the server.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
