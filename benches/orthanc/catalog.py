#!/usr/bin/env python3
"""Orthanc's cold study metadata beside `cargo bench --bench catalog` (issue 24).

Makes N 64x64 CT slices of one study with pydicom (the catalog bench's sizes), imports them into
Debian's Orthanc with its DICOMweb plugin over REST, restarts Orthanc before each of 5 samples
and times the first study metadata GET; then once warm. Orthanc is a peer for this bench only,
not a CI dependency: `apt-get install orthanc orthanc-dicomweb`.

    python3 benches/orthanc/catalog.py 1000 /tmp/orthanc-bench
"""
import glob, json, os, subprocess, sys, time, urllib.request
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

n = int(sys.argv[1]); work = sys.argv[2]
src, db = os.path.join(work, "src%d" % n), os.path.join(work, "db%d" % n)
os.makedirs(src, exist_ok=True)
study, series = "2.25.31415926535.1", "2.25.31415926535.1.1"
for i in range(n):
    ds = Dataset(); m = FileMetaDataset()
    sop = "2.25.31415926535.1.%d" % (i + 1)
    m.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"; m.MediaStorageSOPInstanceUID = sop; m.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = m
    ds.SOPClassUID = m.MediaStorageSOPClassUID; ds.SOPInstanceUID = sop; ds.StudyInstanceUID = study; ds.SeriesInstanceUID = series
    ds.PatientName = "BENCH^ORTHANC"; ds.PatientID = "B1"; ds.StudyDate = "20260101"; ds.Modality = "CT"; ds.InstanceNumber = i + 1
    ds.ImagePositionPatient = [-128, -128, -2.5 * i]; ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]; ds.PixelSpacing = [0.9765625, 0.9765625]
    ds.SliceThickness = 2.5; ds.WindowCenter = [40, -600]; ds.WindowWidth = [400, 1500]; ds.RescaleIntercept = -1024; ds.RescaleSlope = 1
    ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"; ds.Rows = 64; ds.Columns = 64
    ds.BitsAllocated = 16; ds.BitsStored = 12; ds.HighBit = 11; ds.PixelRepresentation = 0; ds.PixelData = bytes(64 * 64 * 2)
    ds.save_as(os.path.join(src, "%05d.dcm" % i), enforce_file_format=True)

config = os.path.join(work, "orthanc.json")
with open(config, "w") as f:
    json.dump({"Name": "bench", "StorageDirectory": db, "IndexDirectory": db, "HttpPort": 18042, "DicomPort": 14242,
               "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
               "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}, f)

def start():
    p = subprocess.Popen(["/usr/sbin/Orthanc", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen("http://127.0.0.1:18042/system"); return p
        except Exception:
            time.sleep(0.1)
    raise SystemExit("orthanc did not start")

p = start()
files = sorted(glob.glob(src + "/*.dcm"))[:n]
t = time.time()
for f in files:
    urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:18042/instances", data=open(f, "rb").read(), method="POST")).read()
print("imported %d in %.1f s" % (len(files), time.time() - t), file=sys.stderr)
study = json.loads(urllib.request.urlopen("http://127.0.0.1:18042/dicom-web/studies").read())[0]["0020000D"]["Value"][0]
url = "http://127.0.0.1:18042/dicom-web/studies/%s/metadata" % study
times = []
for i in range(5):
    p.terminate(); p.wait(); p = start()
    t = time.time(); body = urllib.request.urlopen(url).read(); times.append(time.time() - t)
t = time.time(); urllib.request.urlopen(url).read(); warm = time.time() - t
p.terminate(); p.wait()
times.sort()
print("orthanc %d: cold metadata median %.0f ms (%.0f-%.0f), warm %.0f ms, %d KiB" % (n, times[2] * 1000, times[0] * 1000, times[-1] * 1000, warm * 1000, len(body) // 1024))
