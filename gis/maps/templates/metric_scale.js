{% macro script(this, kwargs) %}
    L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});
    if ({{ this._parent.get_name() }}.attributionControl) {
        {{ this._parent.get_name() }}.attributionControl.setPrefix("Leaflet");
    }
{% endmacro %}
