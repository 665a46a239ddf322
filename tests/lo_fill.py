"""Fill a workbook inside LibreOffice Calc through UNO, as a curator would, and save it as .xlsx.

Run with the system Python that has the `uno` module (Debian python3-uno), not the project's venv:
    /usr/bin/python3 tests/lo_fill.py TEMPLATE VALUES.json OUT.xlsx
VALUES.json maps sheet title -> {"A3": value}; numbers and date serials are set as values, text as strings.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import uno
from com.sun.star.beans import PropertyValue


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def main(template, values_path, out):
    profile = tempfile.mkdtemp(prefix="lo-profile-")
    pipe = f"svod{os.getpid()}"
    office = subprocess.Popen(
        [
            "soffice",
            "--headless",
            "--norestore",
            "--invisible",
            f"-env:UserInstallation=file://{profile}",
            f"--accept=pipe,name={pipe};urp;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        resolver = uno.getComponentContext().ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", uno.getComponentContext()
        )
        for _ in range(120):
            try:
                ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
                break
            except Exception:
                time.sleep(0.5)
        else:
            raise SystemExit("LibreOffice did not start")
        desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        doc = desktop.loadComponentFromURL(
            uno.systemPathToFileUrl(os.path.abspath(template)), "_blank", 0, (prop("Hidden", True),)
        )
        with open(values_path, encoding="utf-8") as fh:
            values = json.load(fh)
        for title, cells in values.items():
            sheet = doc.Sheets.getByName(title)
            for address, value in cells.items():
                cell = sheet.getCellRangeByName(address)
                if isinstance(value, (int, float)):
                    cell.setValue(value)
                else:
                    cell.setString(value)
        doc.storeToURL(
            uno.systemPathToFileUrl(os.path.abspath(out)), (prop("FilterName", "Calc MS Excel 2007 XML"),)
        )
        doc.close(True)
    finally:
        office.terminate()
        office.wait(30)


if __name__ == "__main__":
    main(*sys.argv[1:4])
