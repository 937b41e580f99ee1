// The API documentation (/docs): Swagger UI served by the hub itself (no CDN, no inline script).
window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
});
