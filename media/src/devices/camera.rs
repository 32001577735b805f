//! Cameras through nokhwa. The V4L2 handle stays on its own
//! `concord-camera` thread; frames cross a bounded channel, and an unplugged
//! camera ends the track with the reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};

use crate::convert::PixelFormat;
use crate::source::{RawVideoFrame, VideoSource};
use crate::{DeviceKind, MediaError, Result};

/// A V4L2 (or platform) camera, read on its own thread.
pub struct CameraSource {
    name: String,
    interval: Duration,
    frames: Receiver<Result<RawVideoFrame>>,
    stop: Arc<AtomicBool>,
}

impl CameraSource {
    /// Opens a camera by name (`None`: the first one) asking for about `width`x`height` at `fps`.
    pub fn open(name: Option<&str>, width: u32, height: u32, fps: u32) -> Result<Self> {
        let kind = DeviceKind::Camera;
        let cameras = nokhwa::query(ApiBackend::Auto).map_err(|e| MediaError::unavailable(kind, e))?;
        let info = match name {
            None => cameras.first().ok_or_else(|| MediaError::unavailable(kind, "no camera found"))?,
            Some(name) => cameras
                .iter()
                .find(|c| c.human_name() == name)
                .ok_or_else(|| MediaError::NoSuchDevice { kind, name: name.to_owned() })?,
        };
        let index = info.index().clone();
        let name = info.human_name();
        let (tx, frames) = sync_channel(2);
        let (opened_tx, opened) = sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("concord-camera".into())
            .spawn(move || camera_thread(index, width, height, fps, tx, opened_tx, thread_stop))
            .map_err(|e| MediaError::unavailable(kind, e))?;
        super::wait_opened(&opened, kind)?;
        Ok(Self { name, interval: Duration::from_secs(1) / fps.max(1), frames, stop })
    }
}

fn camera_thread(
    index: CameraIndex,
    width: u32,
    height: u32,
    fps: u32,
    frames: SyncSender<Result<RawVideoFrame>>,
    opened: SyncSender<Result<()>>,
    stop: Arc<AtomicBool>,
) {
    let kind = DeviceKind::Camera;
    let wanted = CameraFormat::new(Resolution::new(width, height), FrameFormat::MJPEG, fps);
    let formats = [FrameFormat::MJPEG, FrameFormat::YUYV, FrameFormat::RAWRGB];
    let request = RequestedFormat::with_formats(RequestedFormatType::Closest(wanted), &formats);
    let mut camera = match nokhwa::Camera::new(index, request).and_then(|mut c| c.open_stream().map(|()| c)) {
        Ok(camera) => camera,
        Err(e) => {
            let _ = opened.send(Err(MediaError::unavailable(kind, e)));
            return;
        }
    };
    let _ = opened.send(Ok(()));
    while !stop.load(Ordering::Relaxed) {
        let frame = camera.frame().map_err(|e| MediaError::unavailable(kind, format!("camera stopped: {e}")));
        let frame = frame.and_then(|buffer| {
            let format = match buffer.source_frame_format() {
                FrameFormat::MJPEG => PixelFormat::Mjpeg,
                FrameFormat::YUYV => PixelFormat::Yuyv422,
                FrameFormat::RAWRGB => PixelFormat::Rgb24,
                other => {
                    return Err(MediaError::unavailable(kind, format!("unsupported camera format {other}")))
                }
            };
            let resolution = buffer.resolution();
            Ok(RawVideoFrame {
                format,
                width: resolution.width(),
                height: resolution.height(),
                data: buffer.buffer().to_vec(),
                captured: Instant::now(),
            })
        });
        let failed = frame.is_err();
        match frames.try_send(frame) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => break,
        }
        if failed {
            break;
        }
    }
    let _ = camera.stop_stream();
}

impl VideoSource for CameraSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn frame_interval(&self) -> Duration {
        self.interval
    }

    fn capture(&mut self) -> Result<RawVideoFrame> {
        match self.frames.recv_timeout(Duration::from_secs(2)) {
            Ok(frame) => frame,
            Err(RecvTimeoutError::Timeout) => {
                Err(MediaError::unavailable(DeviceKind::Camera, "the camera sent nothing for 2 s"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(MediaError::unavailable(DeviceKind::Camera, "the camera was disconnected"))
            }
        }
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
