#!/usr/bin/env python3
"""Writes a `mosquitto_sub -v` capture of N messages (default 1 000 000) in
the mix tests/bench/flatten.rs uses: electricity and gas every 10 s for 500
homes, STATE and sensor every minute, one home in ten without a gas meter."""
import sys

def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = sys.stdout
    written = i = 0
    null_gas = ('{"gasmeter":{"timestamp":"1970-01-01T00:00:00Z","energy":{"import":{"cumulative":null,"day":null,'
                '"week":null,"month":null,"units":"kWh","cumulativevol":null,"cumulativevolunits":"","dayvol":null,'
                '"weekvol":null,"monthvol":null,"dayweekmonthvolunits":"","mprn":"read pending","supplier":"---",'
                '"price":{"unitrate":null,"standingcharge":null}}}}}')
    while written < n:
        dev = "0A1B2C3D%04X" % (i % 500)
        ts = "2026-03-01T%02d:%02d:%02dZ" % ((i // 360) % 24, (i // 6) % 60, (i * 10) % 60)
        lines = [
            f'glow/{dev}/SENSOR/electricitymeter {{"electricitymeter":{{"timestamp":"{ts}","energy":{{"export":{{"cumulative":0.000,"units":"kWh"}},"import":{{"cumulative":{8000 + i // 100}.{i % 1000:03d},"day":{7 + i % 20}.{i % 997:03d},"week":41.205,"month":187.554,"units":"kWh","mpan":"read pending","supplier":"---","price":{{"unitrate":0.24510,"standingcharge":0.53220}}}}}},"power":{{"value":0.{i % 1000:03d},"units":"kW"}}}}}}',
            f'glow/{dev}/SENSOR/gasmeter ' + (null_gas if i % 10 == 9 else
                f'{{"gasmeter":{{"timestamp":"{ts}","energy":{{"import":{{"cumulative":{20000 + i // 50}.{i % 1000:03d},"day":12.5,"week":80.25,"month":301.0,"units":"kWh","cumulativevol":{1800 + i // 500}.{i % 1000:03d},"cumulativevolunits":"m3","dayvol":12.5,"weekvol":80.25,"monthvol":301.0,"dayweekmonthvolunits":"kWh","mprn":"---","supplier":"---","price":{{"unitrate":0.0621,"standingcharge":0.3105}}}}}}}}}}'),
        ]
        if i % 6 == 0:
            lines.append(f'glow/{dev}/STATE {{"software":"v2.1.0","timestamp":"{ts}","hardware":"GLOW-IHD-02-1v4-SMETS2","wifistamac":"{dev}","smetsversion":"SMETS2","eui":"00:11:22:33:44:55:66:77","zigbee":"1.2.5","han":{{"rssi":-{60 + i % 30},"status":"joined","lqi":{40 + i % 100}}}}}')
            lines.append(f'glow/{dev}/SENSOR/glowsensorth1/00AA11BB22CC {{"glowsensorth1":{{"00AA11BB22CC":{{"timestamp":"{ts}","temperature":{{"value":20.{i % 10},"units":"°C"}},"humidity":{{"value":52,"units":"%"}},"battery":{{"value":80,"units":"%"}},"rssi":{{"value":-77,"units":"dBm"}},"status":"connected","advname":"GlowSensorTH_0001","customname":""}}}}}}')
        for line in lines[: n - written]:
            out.write(line + "\n")
        written += min(len(lines), n - written)
        i += 1

main()
