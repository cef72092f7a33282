"""Drives framegate's DICOMweb root with dicomweb-client (the Python library from PyPI) and
prints, as JSON, what it found: the Rust test compares it with the stored objects.

Usage: python3 dicomweb_client_roundtrip.py ROOT
"""
import base64
import json
import sys

from dicomweb_client.api import DICOMwebClient


def first(attrs, tag):
    return attrs[tag]["Value"][0]


def main(root):
    client = DICOMwebClient(url=root)
    out = {"studies": [], "series": {}, "frames": {}, "decoded": {}, "instances": {}, "bulk": {}}
    studies = client.search_for_studies()
    out["studies"] = [first(s, "0020000D") for s in studies]
    study = out["studies"][0]
    out["ct_search"] = len(client.search_for_series(search_filters={"Modality": "CT"}))
    out["study_metadata"] = len(client.retrieve_study_metadata(study))
    for series in client.search_for_series(study_instance_uid=study):
        uid = first(series, "0020000E")
        modality = first(series, "00080060")
        metadata = client.retrieve_series_metadata(study, uid)
        out["series"][modality] = len(metadata)
        for instance in client.search_for_instances(study, uid):
            sop = first(instance, "00080018")
            meta = client.retrieve_instance_metadata(study, uid, sop)
            name = f"{modality}{first(meta, '00200013')}"
            wanted = [17, 3] if modality == "XA" else [1]
            stored = client.retrieve_instance_frames(study, uid, sop, frame_numbers=wanted, media_types=(("application/octet-stream", "*"),))
            out["frames"][name] = [base64.b64encode(f).decode() for f in stored]
            decoded = client.retrieve_instance_frames(study, uid, sop, frame_numbers=[1])
            out["decoded"][name] = base64.b64encode(decoded[0]).decode()
            dataset = client.retrieve_instance(study, uid, sop)
            out["instances"][name] = [sop, str(dataset.SOPInstanceUID), int(dataset.Rows)]
            # dicomweb-client sends `Host` without the port, so the absolute BulkDataURI that
            # framegate builds from it lacks the port: the path is taken, on the root.
            uri = meta["7FE00010"]["BulkDataURI"]
            bulk = client.retrieve_bulkdata(root + uri[uri.index("/studies/"):])
            out["bulk"][name] = base64.b64encode(bulk[0]).decode()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
