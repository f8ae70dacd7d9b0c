{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }};
    var dot = null, ring = null;
    function show(lat, lon, acc) {
        if (!dot) {
            ring = L.circle([lat, lon], {radius: acc || 0, color: "#1a73e8", weight: 1,
                                         fillColor: "#1a73e8", fillOpacity: 0.12, interactive: false});
            dot = L.circleMarker([lat, lon], {radius: 8, color: "#fff", weight: 3, fillColor: "#1a73e8",
                                              fillOpacity: 1, interactive: false});
            ring.addTo(map); dot.addTo(map);
        } else {
            dot.setLatLng([lat, lon]); ring.setLatLng([lat, lon]); ring.setRadius(acc || 0);
        }
        window.patrolMyPosition = [lat, lon, acc];
    }
    {% if this.fix %}show({{ this.fix[1] }}, {{ this.fix[0] }}, {{ this.fix[2] or 0 }});{% endif %}
    if (navigator.geolocation && window.isSecureContext) {
        navigator.geolocation.watchPosition(function (p) {
            show(p.coords.latitude, p.coords.longitude, p.coords.accuracy);
        }, function () {}, {enableHighAccuracy: true, maximumAge: 10000, timeout: 30000});
    }
})();
{% endmacro %}
