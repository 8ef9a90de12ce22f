/* One's own account on the map: change password (forced at first sign-in). Exposes window.SitmapAccount. */
(function () {
  "use strict";
})();
